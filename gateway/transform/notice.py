"""The words the recipient reads: the handling notice and the protected-file notice.

The guidance: the recipient must understand the purpose of the sharing, any
limits to consent, and that further handling must be fair and secure.  When
the sender gave no purpose or consent limits, the notice says so and what to
do, rather than leaving the recipient to guess.
"""

from __future__ import annotations

import html

from gateway.transform.sharing import SharingFacts

# How the password reaches the recipient, completing "The password will
# reach you ...".
_RELEASE = {
    "on-receipt": "in a separate email, once your mail system has confirmed that this "
    "message arrived",
    "sender": "from the sender, by telephone",
    "manual": "in a separate email from the sender's IT team; if it has not come, ask "
    "the sender for it",
}


def handling_lines(facts: SharingFacts) -> list[str]:
    purpose = facts.purpose or "not stated: ask the sender before you use the information"
    consent = (
        facts.consent
        or "none stated: ask the sender before you share the information with anyone else"
    )
    return [
        "Handling notice: this message shares personal information.",
        f"Purpose of sharing: {purpose}",
        f"Limits to consent: {consent}",
        "Any further handling of this information must be fair and secure: use it only "
        "for the purpose above, keep it confidential and stored securely, share it no "
        "further than the limits to consent allow, and delete it securely when it is no "
        "longer needed.",
    ]


def handling_text(facts: SharingFacts) -> str:
    return "\n".join(handling_lines(facts))


def handling_html(facts: SharingFacts) -> str:
    lines = [html.escape(line) for line in handling_lines(facts)]
    head, rest = lines[0], lines[1:]
    body = "<br>\n".join(rest)
    return (
        '<div style="border:1px solid #888;padding:8px 12px;margin:0 0 16px 0;'
        'font-family:sans-serif;font-size:90%">'
        f"<p style=\"margin:0 0 6px 0\"><strong>{head}</strong></p>\n<p style=\"margin:0\">"
        f"{body}</p></div>\n"
    )


def protected_text(facts: SharingFacts, zip_name: str, release: str, extra_files: int) -> str:
    """The body of a protected message: where the content went, and the notice."""
    how = _RELEASE.get(release, _RELEASE["manual"])
    others = (
        f" The {'other attachment is' if extra_files == 1 else 'other attachments are'} "
        "already encrypted by the sender, with a password of their own."
        if extra_files
        else ""
    )
    return "\n".join(
        [
            "This message contains personal information. To keep it secure, its content "
            f"is in the attached file {zip_name}, which is encrypted (AES-256) and "
            f"read-only.{others}",
            "",
            f"The password will reach you {how}. It is never sent in the "
            "same email as the file.",
            "",
            "To open the file, use a program that can open AES-encrypted zip files, "
            "such as 7-Zip or WinZip.",
            "",
            handling_text(facts),
            "",
        ]
    )


def prepend_text(notice: str, text: str) -> str:
    """`notice` as the first paragraph of a plain-text body, in its line endings."""
    newline = "\r\n" if "\r\n" in text else "\n"
    block = newline.join(notice.split("\n"))
    return block + newline + newline + text
