"""Demo data: a loyalty alliance replayed from a real retail purchase history."""
