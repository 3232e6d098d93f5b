//! configMapGenerator / secretGenerator and the name hash (owner: generators).
