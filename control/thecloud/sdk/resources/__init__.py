"""One module per API noun; each class is a thin typed layer over `Transport`."""
