"""`uv run python -m bench --help`"""

from bench.runner import main

raise SystemExit(main())
