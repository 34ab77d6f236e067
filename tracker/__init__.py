"""Forwarding cases to the city's tracker. Adapters only: each module speaks one kind of
target and knows nothing of the store, the outbox or the policy; the worker that drives them
(not written yet) lives in bot/."""
