from hardtool.cli import main

main()
