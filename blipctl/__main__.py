from blipctl.cli import main

main()
