"""What runs the application outside Lambda: local cloud, schemas, operational scripts."""
