"""Pure domain values: units, time, parties, CTS messages. No I/O lives here."""
