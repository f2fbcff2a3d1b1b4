// GraphCore module: see README.md beside this file.
