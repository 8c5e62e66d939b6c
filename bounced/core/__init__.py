"""The pure middle: value types, parsing, classification, state rules, policy. No I/O here."""
