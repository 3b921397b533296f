"""Real fakes: local servers and stores that stand in for what cannot run here."""
