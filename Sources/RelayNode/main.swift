print("relaynode: not yet")
