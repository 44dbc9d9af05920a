//! Kubewarden waPC policy that rewrites image references to a pull-through cache.
