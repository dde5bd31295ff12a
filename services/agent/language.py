"""Which language a customer wrote in, well enough to decide "English or not".

Two steps:
- the script: Cyrillic, Greek, Arabic, Hebrew, CJK, Devanagari, Thai ... are not English
  (Unicode character names, exact);
- Latin-script text goes to lingua (n-gram language models, `lingua-language-detector`) over
  the Latin-script languages customers most often write in. Lingua's high-accuracy mode is the
  one meant for short texts, which chat messages are; its models load once per process
  (`warm()` at startup, about 2 s) and take about 120 MB.

Deliberately conservative: a message is called non-English only when lingua is confident of
another language and not of English, so "how do i reset my pw" or "api 401" stays English
(short texts are where detectors guess), and an English message with a foreign greeting stays
English.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass

LANGUAGE_NAMES = {
    "en": "English", "es": "Spanish", "pt": "Portuguese", "fr": "French", "de": "German",
    "it": "Italian", "nl": "Dutch", "pl": "Polish", "tr": "Turkish", "sv": "Swedish",
    "ru": "Russian", "el": "Greek", "ar": "Arabic", "he": "Hebrew", "zh": "Chinese",
    "ja": "Japanese", "ko": "Korean", "hi": "Hindi", "th": "Thai", "uk": "Ukrainian",
    "und": "another language",
}
# Latin-script languages lingua chooses between (ISO 639-1 codes; lingua's own names).
_LATIN = ("en", "es", "pt", "fr", "de", "it", "nl", "pl", "tr", "sv")
# Another language wins only with at least this confidence, English under the second figure.
FOREIGN_CONFIDENCE = 0.6
ENGLISH_DOUBT = 0.2
# Fewer letters than this: too little to tell (a name, "ok", "api 401").
MIN_LETTERS = 8

_SCRIPTS = (
    ("CYRILLIC", "ru"), ("GREEK", "el"), ("ARABIC", "ar"), ("HEBREW", "he"),
    ("HIRAGANA", "ja"), ("KATAKANA", "ja"), ("HANGUL", "ko"), ("CJK", "zh"),
    ("DEVANAGARI", "hi"), ("THAI", "th"),
)


@dataclass(frozen=True)
class Language:
    code: str
    name: str

    @property
    def is_english(self) -> bool:
        return self.code == "en"


ENGLISH = Language("en", "English")

_detector = None
_detector_lock = threading.Lock()


def _lingua():
    global _detector
    with _detector_lock:
        if _detector is None:
            from lingua import IsoCode639_1, Language as L, LanguageDetectorBuilder

            languages = [L.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in _LATIN]
            _detector = (LanguageDetectorBuilder.from_languages(*languages)
                         .with_preloaded_language_models().build())
        return _detector


def warm() -> None:
    """Loads the language models now (a server calls this at startup, off the event loop)."""
    _lingua()


def _script_language(text: str) -> str | None:
    if text.isascii():  # every ASCII letter is Latin: no name to look up per letter
        return None
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return None
    counts: dict[str, int] = {}
    for c in letters:
        name = unicodedata.name(c, "")
        for script, code in _SCRIPTS:
            if name.startswith(script):
                counts[code] = counts.get(code, 0) + 1
                break
    if not counts:
        return None
    code, n = max(counts.items(), key=lambda kv: kv[1])
    return code if n / len(letters) >= 0.3 else None


def detect(text: str) -> Language:
    code = _script_language(text)
    if code:
        return Language(code, LANGUAGE_NAMES[code])
    if sum(c.isalpha() for c in text) < MIN_LETTERS:
        return ENGLISH
    confidence = {v.language.iso_code_639_1.name.lower(): v.value
                  for v in _lingua().compute_language_confidence_values(text)}
    best = max((c for c in confidence if c != "en"), key=lambda c: confidence[c])
    if confidence[best] >= FOREIGN_CONFIDENCE and confidence.get("en", 0.0) < ENGLISH_DOUBT:
        return Language(best, LANGUAGE_NAMES[best])
    return ENGLISH
