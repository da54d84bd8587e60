"""``python -m gateway`` runs the ``linegate`` command line."""

from gateway.cli import main

raise SystemExit(main())
