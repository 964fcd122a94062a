"""Typical staff mail for the benchmark: seeded, Faker en_GB, mostly prose.

    messages(count, seed) -> list of raw .eml bytes

Each message is what a school's or a council's staff send every day: a
greeting, a few paragraphs of English prose with the odd date, time, room or
order number, the sender's signature block (name, job title, organisation,
phone, mobile, e-mail, postal address, sometimes a disclaimer), and in about
half of them a quoted reply ("On …, … wrote:" with "> " lines, or an Outlook
From:/Sent:/To:/Subject: block) that carries its own signature.  About one
message in ten holds one identifier a person wrote on purpose (a DOB, an NHS
number, a parent's mobile…).  Roughly four in ten are multipart/alternative
with an HTML copy of the text, as Outlook and Gmail send them.
"""

from __future__ import annotations

import datetime as dt
import random
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from html import escape

from faker import Faker
from faker.providers.lorem.en_US import Provider as EnglishLorem

__all__ = ["messages"]

_DOMAINS = ("leeds.gov.uk", "northfield.sch.uk", "example-trust.nhs.uk", "kirkby.gov.uk")
_ORGS = (
    "Leeds City Council",
    "Northfield Primary School",
    "Kirkby Children's Services",
    "Example Community NHS Trust",
)
_TITLES = (
    "Family Support Worker",
    "Head of Year 9",
    "SENCo",
    "Designated Safeguarding Lead",
    "Finance Officer",
    "Social Worker",
    "Practice Manager",
    "Business Manager",
    "Office Manager",
    "Deputy Headteacher",
)
_SIGN_OFFS = ("Kind regards,", "Best wishes,", "Regards,", "Many thanks,", "Thanks,", "Cheers,")
_GREETINGS = ("Hi {first},", "Dear {first},", "Hello {first},", "Good morning,", "Hi all,")


class _Writer:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("en_GB")
        self.fake.seed_instance(seed)
        self.words = list(EnglishLorem.word_list)

    def person(self) -> dict[str, str]:
        fake, rng = self.fake, self.rng
        first, last = fake.first_name(), fake.last_name()
        domain = rng.choice(_DOMAINS)
        return {
            "first": first,
            "name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}@{domain}".replace("'", ""),
            "title": rng.choice(_TITLES),
            "org": rng.choice(_ORGS),
            "phone": fake.phone_number(),
            "mobile": f"07700 900{rng.randint(0, 999):03d}",
            "address": fake.address().replace("\n", ", "),
        }

    def sentence(self) -> str:
        fake, rng = self.fake, self.rng
        day = dt.date(2025, 1, 6) + dt.timedelta(days=rng.randint(0, 300))
        roll = rng.random()
        if roll < 0.7:
            return fake.sentence(nb_words=rng.randint(8, 18), ext_word_list=self.words)
        return rng.choice(
            (
                f"Can we meet on {day:%A %d %B} at {rng.randint(9, 16)}:{rng.choice(('00', '30'))}?",
                f"The review is booked for {day:%d/%m/%Y} in room {rng.randint(1, 40)}.",
                f"Order number {rng.randint(100_000, 9_999_999)} arrived this morning.",
                "Please find the updated rota attached.",
                "Let me know if you have any questions.",
                f"{fake.first_name()} will pick this up while I am away next week.",
                "I have added it to the agenda for Thursday.",
                f"The invoice from {fake.company()} is approved.",
                "Thanks for sending this over so quickly.",
            )
        )

    def paragraph(self) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(2, 6)))

    def identifier(self) -> str:
        rng, fake = self.rng, self.fake
        kind = rng.randrange(5)
        if kind == 0:
            born = dt.date(2008, 1, 1) + dt.timedelta(days=rng.randint(0, 5000))
            return f"{fake.first_name()}'s date of birth is {born:%d/%m/%Y}."
        if kind == 1:
            while True:
                body = str(rng.randint(400_000_000, 799_999_999))
                total = sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True))
                check = 11 - total % 11
                if check != 10:
                    digits = body + ("0" if check == 11 else str(check))
                    return (
                        f"The NHS number on the letter is {digits[:3]} {digits[3:6]} {digits[6:]}."
                    )
        if kind == 2:
            return f"Mum's mobile is 07700 900{rng.randint(0, 999):03d} if you need to call her."
        if kind == 3:
            return f"I am writing about the pupil {fake.first_name()} {fake.last_name()} in Year 5."
        return f"Her personal email is {fake.first_name().lower()}{rng.randint(1, 99)}@gmail.com."

    def signature(self, who: dict[str, str]) -> str:
        rng = self.rng
        lines = [rng.choice(_SIGN_OFFS), who["name"], who["title"], who["org"]]
        extras = [
            f"Tel: {who['phone']}",
            f"Mobile: {who['mobile']}",
            f"Email: {who['email']}",
            who["address"],
        ]
        lines += extras[: rng.randint(2, 4)]
        if rng.random() < 0.4:
            lines.append(
                "This email and any attachments are confidential and intended solely for the "
                "addressee. If you have received it in error please notify the sender."
            )
        return "\n".join(lines)

    def body(self, sender: dict[str, str], recipient: dict[str, str]) -> str:
        rng = self.rng
        parts = [rng.choice(_GREETINGS).format(first=recipient["first"])]
        parts += [self.paragraph() for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.1:
            parts[-1] += " " + self.identifier()
        parts.append(self.signature(sender))
        return "\n\n".join(parts)

    def quoted(self, sender: dict[str, str], recipient: dict[str, str], when: dt.datetime) -> str:
        earlier = self.body(recipient, sender)
        if self.rng.random() < 0.5:
            head = f"On {when:%a, %d %b %Y at %H:%M}, {recipient['name']} <{recipient['email']}> wrote:"
            return (
                head
                + "\n"
                + "\n".join(f"> {line}" if line else ">" for line in earlier.split("\n"))
            )
        head = (
            f"From: {recipient['name']} <{recipient['email']}>\n"
            f"Sent: {when:%d %B %Y %H:%M}\n"
            f"To: {sender['name']} <{sender['email']}>\n"
            f"Subject: {self.fake.sentence(nb_words=5, ext_word_list=self.words)}"
        )
        return "-----Original Message-----\n" + head + "\n\n" + earlier

    def message(self, index: int) -> bytes:
        rng = self.rng
        sender, recipient = self.person(), self.person()
        when = dt.datetime(2025, 3, 4, 9, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=17 * index)
        text = self.body(sender, recipient)
        if rng.random() < 0.5:
            text += "\n\n" + self.quoted(sender, recipient, when - dt.timedelta(hours=3))
        msg = EmailMessage(policy=SMTP)
        msg["From"] = f"{sender['name']} <{sender['email']}>"
        msg["To"] = f"{recipient['name']} <{recipient['email']}>"
        msg["Date"] = format_datetime(when)
        msg["Message-ID"] = f"<{when:%Y%m%d%H%M}.{index}@{sender['email'].split('@')[1]}>"
        subject = self.fake.sentence(nb_words=rng.randint(3, 7), ext_word_list=self.words)
        msg["Subject"] = ("RE: " if "wrote:" in text or "Original" in text else "") + subject
        msg.set_content(text)
        if rng.random() < 0.4:
            html = "".join(
                "<p>" + "<br>\n".join(escape(line) for line in block.split("\n")) + "</p>\n"
                for block in text.split("\n\n")
            )
            msg.add_alternative(f"<html><body>\n{html}</body></html>\n", subtype="html")
            msg.set_boundary(f"==alt-{index}==")  # reproducible bytes
        return bytes(msg)


def messages(count: int, seed: int = 1) -> list[bytes]:
    """`count` raw typical messages, the same ones for the same seed."""
    writer = _Writer(seed)
    return [writer.message(index) for index in range(count)]
