from pii_guard.cli import main

main()
