"""The person's library on disk: walking folders, reading keywords, the index, the tag history."""
