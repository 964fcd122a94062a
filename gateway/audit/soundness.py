"""Whether particular rows of the chain are still as the gateway wrote them.

`gateway audit verify` walks the whole chain.  An auditor reading one record
(`audit show`, a search's rows, the console's record page) should not have to
run it first to learn that this record was altered: an edit that leaves
valid JSON (another approver's name, another job title) reads as well as the
truth.  So the readers check the rows they show, each on its own:

- its stored hash is the hash of its content linked to its stored prev_hash
  (a plain edit);
- the chain's next row, when there is one, links to that hash (an edit whose
  author recomputed the row's own hash);
- a record's search-index rows are its hashed terms.

What this cannot see, verify does: deleted or inserted rows, checkpoints,
anchors.  A row found unsound is shown all the same, marked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.audit.chain import event_content, link, record_content, term_key, terms_text, ts
from gateway.db.schema import audit_events, audit_record_terms, audit_records

_CHUNK = 500  # seqs a statement names: under every database's bind-parameter limit


def record_row_sound(row: Sequence[Any], index: Iterable[tuple[str, str, str, Any]]) -> tuple[
    bool, bool
]:
    """(the record's hash covers its content, its search index is its terms)
    for `row`: id, message_id, received_at, sender, verdict, marking,
    purpose, terms, document, events, prev_hash, hash; `index`: its
    audit_record_terms rows as (field, value, key, received_at)."""
    (id_, message_id, received_at, sender, verdict, marking, purpose, terms, document, kept,
     prev_hash, hash_) = row
    content = record_content(id_, message_id, received_at, sender, verdict, marking, purpose,
                             terms, document, kept)
    stored = list(index)
    when = ts(received_at)
    terms_ok = (terms_text([(f, v) for f, v, _, _ in stored]) == terms
                and all(ts(at) == when and key == term_key(v) for _, v, key, at in stored))
    return link(prev_hash, content) == hash_, terms_ok


def event_row_sound(record_id: str, at: Any, type_: str, detail: str, prev_hash: str,
                    hash_: str) -> bool:
    """The event's hash covers its content."""
    return link(prev_hash, event_content(record_id, at, type_, detail)) == hash_


async def unsound_rows(
    conn: AsyncConnection, record_seqs: Sequence[int], event_seqs: Sequence[int]
) -> dict[int, str]:
    """seq -> "record", "search index" or "event" for each of the given
    rows that is not as the gateway wrote it (see the module docstring)."""
    found: dict[int, str] = {}
    hashes: dict[int, str] = {}
    r, t, e = audit_records.c, audit_record_terms.c, audit_events.c
    for chunk in _chunks(record_seqs):
        index: dict[int, list[tuple[str, str, str, Any]]] = {s: [] for s in chunk}
        for seq, field_, value, key, at in await conn.execute(
            select(t.record_seq, t.field, t.value, t.key, t.received_at)
            .where(t.record_seq.in_(chunk))
        ):
            index[int(seq)].append((field_, value, key, at))
        for seq, *row in await conn.execute(
            select(r.seq, r.id, r.message_id, r.received_at, r.sender, r.verdict, r.marking,
                   r.purpose, r.terms, r.document, r.events, r.prev_hash, r.hash)
            .where(r.seq.in_(chunk))
        ):
            self_ok, terms_ok = record_row_sound(row, index[int(seq)])
            hashes[int(seq)] = str(row[-1])
            if not self_ok:
                found[int(seq)] = "record"
            elif not terms_ok:
                found[int(seq)] = "search index"
    for chunk in _chunks(event_seqs):
        for seq, record_id, at, type_, detail, prev_hash, hash_ in await conn.execute(
            select(e.seq, e.record_id, e.at, e.type, e.detail, e.prev_hash, e.hash)
            .where(e.seq.in_(chunk))
        ):
            hashes[int(seq)] = str(hash_)
            if not event_row_sound(record_id, at, type_, detail, prev_hash, hash_):
                found[int(seq)] = "event"
    # The row after each: it links to the hash stored here, unless this
    # row's hash was recomputed after an edit.
    events = set(event_seqs)
    following = {seq + 1: seq for seq in hashes}
    for chunk in _chunks(list(following)):
        for seq, prev_hash in await conn.execute(union_all(
            select(r.seq, r.prev_hash).where(r.seq.in_(chunk)),
            select(e.seq, e.prev_hash).where(e.seq.in_(chunk)),
        )):
            before = following[int(seq)]
            if str(prev_hash) != hashes[before] and before not in found:
                found[before] = "event" if before in events else "record"
    return found


def _chunks(seqs: Sequence[int]) -> Iterable[list[int]]:
    ordered = sorted(set(seqs))
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start:start + _CHUNK]
