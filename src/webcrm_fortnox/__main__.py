from webcrm_fortnox.cli import main

main()
