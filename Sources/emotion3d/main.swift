print("emotion3d")
