"""Background jobs stored in the state database, some run in their own processes (#29).

`store.py` holds the rows, `owner.py` tells a live owner from a dead one, `dispatch.py`
starts the process jobs of each kind within its limit, `child.py` is the process side, and
each kind of job is one small module (`video.py`: a video's frames).
"""
