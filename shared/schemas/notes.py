"""A customer note's text: the one rule for v2 notes, v1's `note` field and the API document."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

MAX_NOTE_LENGTH = 10_000


class NoteTextSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    note = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NOTE_LENGTH))
