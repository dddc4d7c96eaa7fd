"""Training methods from the papers of Part II: weight transfer, time-step schedules, and more."""
