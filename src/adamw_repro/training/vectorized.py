"""placeholder"""
def can_stack(cfgs):
    return False
