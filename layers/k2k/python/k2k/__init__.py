"""K2K shared package: domain rules, store, events. Deployed as a Lambda layer."""
