def align_plans(plans, root, mode="check", cache_dir=None):
    return plans, []
