"""``python -m appliance``: the ``kiosk`` command."""

from appliance.cli import main

main()
