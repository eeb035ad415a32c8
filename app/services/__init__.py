"""The rules of the service: who may do what, conflicts, atomicity. No HTTP here."""
