"""Which language a customer wrote in, well enough to decide "English or not".

Script first (Cyrillic, Greek, Arabic, Hebrew, CJK, ... are not English), then function-word
counts for the Latin-script languages customers most often use. Deliberately conservative:
a message is only called non-English when another language's function words clearly
outnumber English ones, so an English message with a foreign greeting stays English.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset("""the and is are to of in for my i you it this that with how can do does
        what why not have has be on a an we our your me please thanks help when where there
        was will would should could get""".split()),
    "es": frozenset("""el la los las de del que y en un una es son por para con no mi mis
        cómo como qué por qué puedo tengo quiero hola gracias está estoy pero muy su al lo
        necesito ayuda cuenta contraseña""".split()),
    "pt": frozenset("""o a os as de do da dos das que e em um uma é são por para com não meu
        minha como posso tenho quero olá obrigado obrigada está estou mas muito você ajuda
        conta senha""".split()),
    "fr": frozenset("""le la les de des du que et en un une est sont pour avec ne pas mon ma
        mes comment je peux bonjour merci vous nous mais très votre aide compte mot passe""".split()),
    "de": frozenset("""der die das und ist sind zu mit nicht ich ein eine wie kann mein meine
        hallo danke sie wir aber sehr ihr hilfe konto passwort bitte auf für""".split()),
    "it": frozenset("""il lo la gli le di del della che e è sono per con non mio mia come
        posso ho voglio ciao grazie ma molto aiuto account password""".split()),
    "nl": frozenset("""de het een en is zijn van met niet ik mijn hoe kan hallo bedankt
        maar heel jullie hulp wachtwoord""".split()),
}

LANGUAGE_NAMES = {
    "en": "English", "es": "Spanish", "pt": "Portuguese", "fr": "French", "de": "German",
    "it": "Italian", "nl": "Dutch", "ru": "Russian", "el": "Greek", "ar": "Arabic",
    "he": "Hebrew", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "hi": "Hindi",
    "th": "Thai", "uk": "Ukrainian", "und": "another language",
}

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


def _script_language(text: str) -> str | None:
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
    tokens = re.findall(r"[^\W\d_]+", text.lower())
    if not tokens:
        return ENGLISH
    scores = {lang: sum(t in words for t in tokens) for lang, words in _FUNCTION_WORDS.items()}
    best = max((lang for lang in scores if lang != "en"), key=lambda lang: scores[lang])
    # Accented letters English never uses tip short messages ("¿Cómo cambio mi contraseña?").
    accents = sum(c in "áéíóúñçãõâêôàèìòùäöüß¿¡" for c in text.lower())
    foreign = scores[best] + min(accents, 2)
    if foreign >= 2 and foreign > 1.5 * scores["en"]:
        return Language(best, LANGUAGE_NAMES[best])
    return ENGLISH
