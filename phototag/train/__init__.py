"""Fine-tuning ALTReco on a person's own tagged photos."""
