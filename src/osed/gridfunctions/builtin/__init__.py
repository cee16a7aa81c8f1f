"""The grid functions OSED ships; found through the ``osed.grid_functions`` entry points like
any third-party function."""
