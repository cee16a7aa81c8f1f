"""The building agent: a building's own controller behind the meter (docs/building-agent.md).

It sees its devices only through the device gateway port and the grid only through its EDCs'
channels: it plans its devices on a receding horizon, keeps them within limits between plans,
and answers the grid functions it is enrolled in.
"""
