BLASCoreSelection.reexecIfBeneficial()
MCPRag.main()
