"""The appliance: orchestration, knowledge base, answer engine, journal and the kiosk CLI."""
