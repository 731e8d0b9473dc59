"""What a listing and a contact sheet know about frames (#23): perceptual hashes and
near-duplicate collapsing (`phash`), width/height/format from the header (`facts`), and
labelled contact-sheet grids (`sheet`). Pillow only; nothing here imports Flask.
"""
