"""The audit trail: capture (database triggers), the hash chain (chain, sealer, verification,
signing), and reading history (images, service, controller)."""
