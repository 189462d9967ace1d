"""Everything that persists: the database, the replay cache and the archive stores."""
