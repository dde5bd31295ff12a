"""Generates identification_set.jsonl: message senders across email, WhatsApp and the web form,
each row labelled with the person who really sent it. Seeded, so the file is reproducible:

    .venv/bin/python tests/identity/generate_identification_set.py

Rows of one person use formatting variants (case, whitespace, `Name <addr>`, `whatsapp:`
prefix, national vs international formats, dots, dashes, spaces, brackets, 00 prefixes).
Look-alike people must stay apart: same name with another email, emails one character apart
or differing by a `+tag`, phone numbers one digit apart, and the same national number in two
countries. People with both an email and a phone are joined by a web form that carries both,
or by a staff `link` (LinkIdentifier), placed where a real identity service can join them:
never after both an email-only and a phone-only message (that needs a person to merge).

Row fields: row, person, action ("resolve" | "link"), channel, email, phone, whatsapp,
display_name, default_region, variant (what the row exercises), look_alike (which other
person this one resembles, and how).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneNumberFormat as Fmt

SEED = 20251122
OUT = Path(__file__).with_name("identification_set.jsonl")
# Addresses here never collide with other tests' (example.com, +1 415 / +1 555).
DOMAINS = ("idset.example", "mail.idset.example", "acme-idset.example")
REGIONS = ("US", "GB", "FR", "DE", "BR", "IN", "MX", "IT", "NL", "IE", "PT", "ES")
FIRST = ("Maria", "Ana", "John", "Li", "Wei", "Fatima", "Olga", "Kenji", "Amara", "Lucas",
         "Sofia", "Noah", "Priya", "Omar", "Elena", "Mateo", "Chloe", "Ivan", "Zara", "Tom")
LAST = ("Garcia", "Silva", "Smith", "Wei", "Khan", "Petrova", "Sato", "Okafor", "Rossi",
        "Muller", "Dubois", "Patel", "Haddad", "Novak", "Santos", "Brown", "Kim", "Lopez")


@dataclass
class Person:
    pid: str
    name: str
    email: str | None = None
    phone: str | None = None  # E.164
    region: str = "US"
    look_alike: str = ""  # "<how> <other person>": must NOT resolve to the other's customer
    rows: list[dict] = field(default_factory=list)


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.people: list[Person] = []
        self.used_emails: set[str] = set()
        self.used_phones: set[str] = set()

    # --- addresses --------------------------------------------------------------------

    def email_for(self, name: str) -> str:
        first, last = name.lower().split()
        while True:
            local = self.rng.choice([f"{first}.{last}", f"{first}{last}", f"{first[0]}{last}",
                                     f"{first}_{last}"]) + str(self.rng.randint(1, 999))
            address = f"{local}@{self.rng.choice(DOMAINS)}"
            if address not in self.used_emails:
                self.used_emails.add(address)
                return address

    def claim_email(self, address: str) -> str:
        assert address not in self.used_emails, address
        self.used_emails.add(address)
        return address

    def phone_for(self, region: str) -> str:
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        nsn = phonenumbers.national_significant_number(example)
        while True:
            tail = "".join(self.rng.choice("0123456789") for _ in range(5))
            candidate = phonenumbers.parse(nsn[:-5] + tail, region)
            e164 = phonenumbers.format_number(candidate, Fmt.E164)
            if phonenumbers.is_valid_number(candidate) and e164 not in self.used_phones:
                if region == "US" and e164.startswith(("+1415", "+1555")):
                    continue
                self.used_phones.add(e164)
                return e164

    def claim_phone(self, e164: str) -> str:
        assert e164 not in self.used_phones, e164
        self.used_phones.add(e164)
        return e164

    # --- variants ---------------------------------------------------------------------

    def email_variant(self, person: Person) -> tuple[str, str]:
        e = person.email
        options = [
            (e, "as stored"),
            (e.upper(), "upper case"),
            (e[0].upper() + e[1:], "capitalised"),
            (f"  {e}\t", "surrounding whitespace"),
            (f"{person.name} <{e.upper()}>", "From header with display name"),
            (e.title(), "title case"),
        ]
        return self.rng.choice(options)

    def phone_variant(self, person: Person) -> tuple[str, str, str]:
        """(raw number, default region to send, what it exercises)."""
        number = phonenumbers.parse(person.phone)
        region = person.region
        national = phonenumbers.format_number(number, Fmt.NATIONAL)
        intl = phonenumbers.format_number(number, Fmt.INTERNATIONAL)
        cc = str(number.country_code)
        options = [
            (f"whatsapp:{person.phone}", "", "whatsapp: prefix, E.164"),
            (person.phone, "", "E.164"),
            (intl, "", "international with spaces"),
            (intl.replace(" ", "-"), "", "international with dashes"),
            (intl.replace(" ", "."), "", "international with dots"),
            (national, region, "national format with default region"),
            (national.replace(" ", ""), region, "national, no spaces"),
            (national.replace(" ", "-"), region, "national with dashes"),
            ("00" + intl[1:] if region != "US" else "011 " + intl[1:], region, "international access prefix"),
            (f"WhatsApp:+{cc} {phonenumbers.national_significant_number(number)}", "", "prefix in mixed case"),
        ]
        if region in ("GB", "FR", "DE", "IT", "NL", "IE"):
            nsn = phonenumbers.national_significant_number(number)
            options.append((f"+{cc} (0){nsn[:3]} {nsn[3:]}", "", "international with (0) trunk in brackets"))
        if region == "US":
            nsn = phonenumbers.national_significant_number(number)
            options.append((f"({nsn[:3]}) {nsn[3:6]}-{nsn[6:]}", "US", "US brackets"))
            options.append((f"1.{nsn[:3]}.{nsn[3:6]}.{nsn[6:]}", "US", "US dotted with 1"))
        # Only spellings that really denote this number: the label must be true.
        options = [o for o in options if _denotes(o[0], o[1], person.phone)]
        return self.rng.choice(options)

    def name_variant(self, person: Person) -> str:
        first, last = person.name.split()
        return self.rng.choice([person.name, first, f"{first} {last[0]}.", person.name.upper(), ""])

    # --- rows -------------------------------------------------------------------------

    def email_row(self, p: Person, channel: str = "email") -> dict:
        raw, why = self.email_variant(p)
        return {"action": "resolve", "channel": channel, "email": raw,
                "display_name": self.name_variant(p), "variant": f"email: {why}"}

    def whatsapp_row(self, p: Person) -> dict:
        raw, region, why = self.phone_variant(p)
        return {"action": "resolve", "channel": "whatsapp", "whatsapp": raw, "default_region": region,
                "display_name": self.name_variant(p), "variant": f"whatsapp: {why}"}

    def form_row(self, p: Person) -> dict:
        raw_email, why_email = self.email_variant(p)
        raw_phone, region, why_phone = self.phone_variant(p)
        raw_phone = raw_phone.split(":", 1)[-1]  # a form field has no whatsapp: prefix
        return {"action": "resolve", "channel": "web_form", "email": raw_email, "phone": raw_phone,
                "default_region": region, "display_name": p.name,
                "variant": f"web form: email {why_email}; phone {why_phone}"}

    def link_row(self, p: Person) -> dict:
        raw_phone, region, why = self.phone_variant(p)
        return {"action": "link", "channel": "email", "email": p.email, "phone": raw_phone,
                "default_region": region, "display_name": "",
                "variant": f"staff LinkIdentifier of the phone ({why}) to the email's customer"}

    def person(self, kind: str, name: str | None = None, email: str | None = None,
               phone: str | None = None, region: str | None = None) -> Person:
        name = name or f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}"
        region = region or self.rng.choice(REGIONS)
        p = Person(f"p{len(self.people) + 1:03d}", name, region=region)
        if kind in ("email", "both"):
            p.email = email or self.email_for(name)
        if kind in ("phone", "both"):
            p.phone = phone or self.phone_for(region)
        p.rows = self.sequence(p)
        self.people.append(p)
        return p

    def sequence(self, p: Person) -> list[dict]:
        rng = self.rng
        emails = [self.email_row(p, rng.choice(["email", "email", "web_form"]))
                  for _ in range(rng.randint(1, 3))] if p.email else []
        phones = [self.whatsapp_row(p) for _ in range(rng.randint(1, 3))] if p.phone else []
        if not (p.email and p.phone):
            rows = emails + phones
            rng.shuffle(rows)
            return rows
        if rng.random() < 0.3:  # staff link: the email's customer must exist, the phone must not
            before = emails[: rng.randint(1, len(emails))]
            rest = emails[len(before):] + phones
            rng.shuffle(rest)
            return before + [self.link_row(p)] + rest
        # web form: at most one side may have written before it
        side, other = (emails, phones) if rng.random() < 0.5 else (phones, emails)
        before = side[: rng.randint(0, len(side))]
        rest = side[len(before):] + other
        rng.shuffle(rest)
        return before + [self.form_row(p)] + rest

    # --- look-alikes ------------------------------------------------------------------

    def one_char_apart(self, address: str) -> str:
        local, domain = address.split("@")
        while True:
            i = self.rng.randrange(len(local))
            ch = self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789")
            changed = f"{local[:i]}{ch}{local[i + 1:]}@{domain}"
            if changed != address and changed not in self.used_emails:
                return changed

    def one_digit_apart(self, e164: str) -> str:
        while True:
            i = self.rng.randrange(len(e164) - 4, len(e164))
            changed = e164[:i] + self.rng.choice("0123456789") + e164[i + 1:]
            if changed != e164 and changed not in self.used_phones:
                return changed

    def lookalikes(self) -> None:
        rng = self.rng
        for _ in range(6):
            a = self.person("email", region="US")
            self.person("email", name=a.name).look_alike = f"same name as {a.pid}"
        for _ in range(6):
            a = self.person("email")
            b = self.person("email", email=self.claim_email(self.one_char_apart(a.email)))
            b.look_alike = f"email one character from {a.pid}'s"
        for tag in ("billing", "support", "news", "work", "x"):  # plus-tags are other mailboxes
            a = self.person("email")
            local, domain = a.email.split("@")
            b = self.person("email", name=a.name, email=self.claim_email(f"{local}+{tag}@{domain}"))
            b.look_alike = f"+{tag} of {a.pid}'s email"
        for _ in range(6):
            a = self.person(rng.choice(["phone", "both"]))
            b = self.person("phone", region=a.region, phone=self.claim_phone(self.one_digit_apart(a.phone)))
            b.look_alike = f"phone one digit from {a.pid}'s"
        for nsn, regions in (("612345678", ("FR", "ES")), ("912345678", ("PT", "ES")),
                             ("3123456789", ("IT", "US")), ("861234567", ("IE", "NL"))):
            first = None
            for region in regions:
                e164 = phonenumbers.format_number(phonenumbers.parse(nsn, region), Fmt.E164)
                p = self.person(rng.choice(["phone", "both"]), region=region, phone=self.claim_phone(e164))
                if first:
                    p.look_alike = f"same national number {nsn} as {first.pid}, other country"
                first = first or p

    def build(self) -> list[dict]:
        for kind, count in (("email", 18), ("phone", 16), ("both", 34)):
            for _ in range(count):
                self.person(kind)
        self.lookalikes()
        # Interleave everyone's messages as they would arrive, keeping each person's order.
        queues = {p.pid: list(p.rows) for p in self.people}
        by_pid = {p.pid: p for p in self.people}
        rows = []
        while queues:
            pid = self.rng.choices(list(queues), weights=[len(q) for q in queues.values()])[0]
            rows.append({"person": pid, "look_alike": by_pid[pid].look_alike, **queues[pid].pop(0)})
            if not queues[pid]:
                del queues[pid]
        for n, row in enumerate(rows, 1):
            row.setdefault("email", "")
            row.setdefault("phone", "")
            row.setdefault("whatsapp", "")
            row.setdefault("default_region", "")
            row["row"] = n
        keys = ("row", "person", "action", "channel", "email", "phone", "whatsapp",
                "display_name", "default_region", "variant", "look_alike")
        return [{k: r[k] for k in keys} for r in rows]


def _denotes(raw: str, region: str, e164: str) -> bool:
    text = raw.split(":", 1)[-1] if raw.lower().startswith("whatsapp:") else raw
    try:
        number = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.format_number(number, Fmt.E164) == e164


def main() -> None:
    rows = Generator(SEED).build()
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    people = {r["person"] for r in rows}
    print(f"{len(rows)} rows, {len(people)} people -> {OUT}")


if __name__ == "__main__":
    main()
