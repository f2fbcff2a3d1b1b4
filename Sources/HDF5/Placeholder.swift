// HDF5 module: see README.md beside this file.
