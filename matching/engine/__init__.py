"""Tables in, scored pairs out: reading, set-ups, scoring, blocking, candidates, projects."""
