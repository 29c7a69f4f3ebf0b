"""The packaged general vocabulary: everyday photo tags built from the 1,000 ImageNet classes.

How it is built (`build_general_vocabulary`, run by `weights/build_packaged_model.py`):

1. Every ImageNet class is a WordNet 3.0 noun synset (its id `n02084071` is the
   WordNet offset `02084071`). We read Debian's WordNet 3.0 data files
   (`/usr/share/wordnet/data.noun`, `index.noun`, `cntlist.rev`) directly.
2. For each class we take the class synset and every hypernym ancestor
   (pointers `@` and `@i`, transitively). Each such synset is a candidate tag.
3. An ImageNet class synset is a tag when its name has at most `MAX_CLASS_WORDS`
   words ("golden retriever", "espresso"). An ancestor synset is a tag when it is
   in a concrete WordNet lexicographer file (`TAG_LEXFILES`: animals, artifacts,
   food, locations, natural objects, people, plants), its SemCor sense-tag count
   (`cntlist.rev`) is at least `MIN_SEMCOR_COUNT` (a word people use in that
   sense), and its first lemma is not in `EXCLUDED_LEMMAS` (hypernyms such as
   "instrumentality" or "establishment" that say nothing about a photo).
   `INCLUDED_SYNSETS` adds four root-level everyday words (food, animal, plant, person).
4. The tag's name is the synset's most frequent lemma (SemCor counts; ties: the
   first lemma) as WordNet spells it, underscores as spaces. Two synsets
   that would get the same name are merged (their class sets united).
5. `EVERYDAY_ALIASES` adds a few scene words that WordNet files elsewhere
   (e.g. the class "seashore" also gives "beach"); each alias is listed there.

The score of a general tag for a photo is exact: the sum of the backbone's
ImageNet softmax probabilities over the classes under that tag. Classes of one
softmax are mutually exclusive, so the sum is a probability in [0, 1].
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

WORDNET_DIR = Path("/usr/share/wordnet")

MIN_SEMCOR_COUNT = 3
MAX_CLASS_WORDS = 2

# WordNet lexicographer files whose synsets can be photo tags when they are ancestors:
# noun.animal, noun.artifact, noun.food, noun.location, noun.object, noun.person, noun.plant.
TAG_LEXFILES = frozenset({5, 6, 13, 15, 17, 18, 20})

# Ancestor synsets that pass the rules above but say nothing useful about a photo
# (by first WordNet lemma). Written out so the vocabulary is reproducible and reviewable.
EXCLUDED_LEMMAS = frozenset(
    """instrumentality device container conveyance commodity structure equipment instrument
    protective_covering obstruction geological_formation establishment barrier place_of_business
    mercantile_establishment nutriment piece part housing system stick shelter transducer reflector
    filter decoration communication_system work web surface shade product point player peer explorer
    emblem drygoods design creation connection concoction case board bar associate area apparatus
    blower platform weight trap attire apparel bowed_stringed_instrument natural_depression spring
    blind shield feed medicine drug brake_system signboard workplace covering material
    """.split()
)

# Root-level synsets that are everyday tags although WordNet files them under noun.Tops.
INCLUDED_SYNSETS = {"00021265": "food", "00015388": "animal", "00017222": "plant", "00007846": "person"}

# Everyday scene words WordNet files under other names: ImageNet class synset -> extra tag names.
EVERYDAY_ALIASES = {
    "09428293": ["beach", "sea"],  # seashore
    "09421951": ["beach"],  # sandbar
    "09332890": ["lake", "water"],  # lakeside
    "09246464": ["mountain", "landscape"],  # cliff
    "09193705": ["mountain", "landscape", "snow"],  # alp
    "09472597": ["mountain", "landscape"],  # volcano
    "09468604": ["landscape"],  # valley
    "09399592": ["sea", "landscape"],  # promontory
    "09256479": ["sea", "underwater"],  # coral reef
    "09288635": ["landscape", "water"],  # geyser
    "03028079": ["building", "church"],  # church
    "03781244": ["building"],  # monastery
    "03877845": ["building"],  # palace
    "02980441": ["building"],  # castle
    "04346328": ["building"],  # stupa
    "03788195": ["building", "church"],  # mosque
    "04005630": ["building"],  # prison
    "02814860": ["building", "lighthouse"],  # beacon
    "03891251": ["city", "street"],  # park bench
    "04335435": ["city", "street"],  # streetcar
    "06874185": ["city", "street"],  # traffic light
    "06794110": ["street"],  # street sign
}

WORD = re.compile(r"^[a-z][a-z' -]*$")


@dataclass(frozen=True)
class Synset:
    offset: str
    lexfile: int
    lemmas: tuple[str, ...]
    hypernyms: tuple[str, ...]
    gloss: str


@dataclass(frozen=True)
class GeneralTag:
    name: str
    synsets: tuple[str, ...]  # WordNet offsets merged into this tag
    classes: tuple[int, ...]  # ImageNet class indices under it
    synonyms: tuple[str, ...]  # other lemmas (for matching owner tags)


def parse_wordnet(directory: Path = WORDNET_DIR) -> dict[str, Synset]:
    """Noun synsets from WordNet's `data.noun` (format: wndb(5WN))."""
    synsets: dict[str, Synset] = {}
    path = directory / "data.noun"
    if not path.exists():
        raise FileNotFoundError(f"WordNet data not found at {path} (Debian package wordnet-base)")
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("  "):  # licence header
                continue
            data, _, gloss = line.partition(" | ")
            fields = data.split()
            offset, word_count = fields[0], int(fields[3], 16)
            lemmas = tuple(fields[4 + 2 * i] for i in range(word_count))
            at = 4 + 2 * word_count
            pointer_count = int(fields[at])
            hypernyms = []
            for i in range(pointer_count):
                symbol, target, pos = fields[at + 1 + 4 * i : at + 4 + 4 * i]
                if symbol in ("@", "@i") and pos == "n":
                    hypernyms.append(target)
            synsets[offset] = Synset(offset, int(fields[1]), lemmas, tuple(hypernyms), gloss.strip())
    return synsets


def semcor_counts(directory: Path = WORDNET_DIR) -> dict[tuple[str, str], int]:
    """(lemma lower-case, synset offset) -> SemCor tag count, joining cntlist.rev with index.noun."""
    sense_offsets: dict[str, list[str]] = {}
    with open(directory / "index.noun", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("  "):
                continue
            fields = line.split()
            lemma, synset_count, pointer_count = fields[0], int(fields[2]), int(fields[3])
            sense_offsets[lemma] = fields[-synset_count:] if synset_count else []
            del pointer_count
    counts: dict[tuple[str, str], int] = {}
    with open(directory / "cntlist.rev", encoding="utf-8") as handle:
        for line in handle:
            key, sense_number, count = line.split()
            lemma, _, lex = key.partition("%")
            if not lex.startswith("1:"):  # nouns only
                continue
            offsets = sense_offsets.get(lemma)
            number = int(sense_number)
            if offsets and number <= len(offsets):
                counts[(lemma, offsets[number - 1])] = int(count)
    return counts


def imagenet_synsets() -> list[str]:
    """The 1,000 ImageNet-1k class ids (n0xxxxxxx) in class-index order, from timm's packaged list."""
    from importlib.resources import files

    text = files("timm.data").joinpath("_info/imagenet_synsets.txt").read_text(encoding="utf-8")
    ids = [line.strip() for line in text.splitlines() if line.strip()]
    if len(ids) != 1000:
        raise RuntimeError(f"expected 1000 ImageNet synsets, found {len(ids)}")
    return ids


def _ancestors(offset: str, synsets: dict[str, Synset]) -> set[str]:
    seen: set[str] = set()
    stack = list(synsets[offset].hypernyms)
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(synsets[current].hypernyms)
    return seen


def _display(lemma: str) -> str:
    """WordNet spelling with spaces; WordNet capitalises proper nouns only (e.g. "Granny Smith")."""
    return lemma.replace("_", " ")


def build_general_vocabulary(directory: Path = WORDNET_DIR) -> list[GeneralTag]:
    synsets = parse_wordnet(directory)
    counts = semcor_counts(directory)
    classes = [s[1:] for s in imagenet_synsets()]
    class_index = {offset: i for i, offset in enumerate(classes)}

    members: dict[str, set[int]] = defaultdict(set)  # synset -> ImageNet classes under it
    for i, offset in enumerate(classes):
        for s in {offset} | _ancestors(offset, synsets):
            members[s].add(i)

    def count(offset: str) -> int:
        return sum(counts.get((lemma.lower(), offset), 0) for lemma in synsets[offset].lemmas)

    def best_lemma(offset: str) -> str:
        lemmas = synsets[offset].lemmas
        return max(lemmas, key=lambda lemma: (counts.get((lemma.lower(), offset), 0), -lemmas.index(lemma)))

    by_name: dict[str, dict] = {}

    def add(name: str, offset: str, class_ids: set[int], synonyms: bool = True) -> None:
        entry = by_name.setdefault(name, {"synsets": [], "classes": set(), "synonyms": set()})
        if offset not in entry["synsets"]:
            entry["synsets"].append(offset)
        entry["classes"] |= class_ids
        for lemma in synsets[offset].lemmas if synonyms else ():
            other = _display(re.sub(r"\(.*\)$", "", lemma))
            if other != name and WORD.match(other.lower()):
                entry["synonyms"].add(other)

    for offset, class_ids in members.items():
        synset = synsets[offset]
        name = _display(re.sub(r"\(.*\)$", "", best_lemma(offset)))
        if offset in INCLUDED_SYNSETS:
            name = INCLUDED_SYNSETS[offset]
        elif offset in class_index:
            # An ImageNet class: its own name is a specific, concrete tag.
            if len(name.split()) > MAX_CLASS_WORDS:
                continue
        elif (
            synset.lexfile not in TAG_LEXFILES
            or count(offset) < MIN_SEMCOR_COUNT
            or synset.lemmas[0].lower() in EXCLUDED_LEMMAS
        ):
            continue
        if not WORD.match(name.lower()):
            continue
        add(name, offset, class_ids)

    for offset, names in EVERYDAY_ALIASES.items():
        if offset in members:
            for name in names:
                add(name, offset, members[offset], synonyms=False)

    tags = [
        GeneralTag(
            name=name,
            synsets=tuple(entry["synsets"]),
            classes=tuple(sorted(entry["classes"])),
            synonyms=tuple(sorted(entry["synonyms"])),
        )
        for name, entry in by_name.items()
    ]
    # Stable order: most general first (more classes), then by name.
    tags.sort(key=lambda t: (-len(t.classes), t.name))
    return tags


def vocabulary_to_json(tags: list[GeneralTag]) -> dict:
    return {
        "format": "phototag-general-vocabulary/1",
        "source": "ImageNet-1k classes + WordNet 3.0 hypernyms (Debian wordnet-base)",
        "min_semcor_count": MIN_SEMCOR_COUNT,
        "max_class_words": MAX_CLASS_WORDS,
        "tags": [
            {"name": t.name, "synsets": list(t.synsets), "classes": list(t.classes), "synonyms": list(t.synonyms)}
            for t in tags
        ],
    }


@dataclass(frozen=True)
class GeneralVocabulary:
    names: tuple[str, ...]
    classes: tuple[tuple[int, ...], ...]
    synonyms: tuple[tuple[str, ...], ...]

    def __len__(self) -> int:
        return len(self.names)

    def aggregation_matrix(self) -> np.ndarray:
        """[V_g, 1000] float32 0/1 matrix: general tag probability = A @ softmax(ImageNet logits)."""
        matrix = np.zeros((len(self.names), 1000), dtype=np.float32)
        for row, class_ids in enumerate(self.classes):
            matrix[row, list(class_ids)] = 1.0
        return matrix


def vocabulary_from_json(data: dict) -> GeneralVocabulary:
    tags = data["tags"]
    return GeneralVocabulary(
        names=tuple(t["name"] for t in tags),
        classes=tuple(tuple(t["classes"]) for t in tags),
        synonyms=tuple(tuple(t.get("synonyms", ())) for t in tags),
    )


@lru_cache(maxsize=1)
def packaged_vocabulary() -> GeneralVocabulary:
    """The general vocabulary shipped in weights/ (checksum-verified)."""
    from phototag.model.weights import read_packaged_json

    return vocabulary_from_json(read_packaged_json("general_vocab.json"))


def imagenet_names() -> list[str]:
    """Human-readable ImageNet class names (first lemma), index order."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return [info.index_to_description(i).split(",")[0] for i in range(1000)]


def _main(argv: Optional[list[str]] = None) -> None:  # pragma: no cover - exploration helper
    tags = build_general_vocabulary()
    print(len(tags))
    for t in tags:
        print(f"{len(t.classes):4d} {t.name}  ({', '.join(t.synonyms[:4])})")


if __name__ == "__main__":  # pragma: no cover
    _main()
