from osed.cli import main

raise SystemExit(main())
