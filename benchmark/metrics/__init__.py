"""Sample-quality metrics; each is registered with ``@register_metric``."""
