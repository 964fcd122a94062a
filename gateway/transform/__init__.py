"""Transform: make an accepted message fit to deliver.

- `sharing`: purpose, limits to consent and authoriser (SharingFacts), from
  headers or body lines;
- `outbound`: prepare_outbound -> Outbound (strip, take out the sender's
  password, handling notice, protect into an AES-256 read-only zip);
- `subject`: mark_subject ('Private and Confidential', once);
- `protect`: the zip and the generated password;
- `notice`: the words the recipient reads;
- `mime`: careful MIME editing over the stdlib email package.
"""

from gateway.transform.outbound import Outbound, prepare_outbound
from gateway.transform.protect import ZIP_NAME, generate_password
from gateway.transform.sharing import SHARING_HEADERS, SharingFacts, sharing_facts
from gateway.transform.subject import is_marked, mark_subject

__all__ = [
    "SHARING_HEADERS",
    "ZIP_NAME",
    "Outbound",
    "SharingFacts",
    "generate_password",
    "is_marked",
    "mark_subject",
    "prepare_outbound",
    "sharing_facts",
]
