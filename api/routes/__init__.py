"""The API's routes, a router per resource; api/app.py includes them all."""
