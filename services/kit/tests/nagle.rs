//! Our client connections to the local servers have Nagle's algorithm off
//! (`aerostic_kit::tcp_nodelay`). Its own test binary, so no other test's
//! connection is open while the process's sockets are inspected.

use aerostic_kit::broker::RabbitBroker;
use aerostic_kit::cache::RedisCache;
use aerostic_kit::tcp_nodelay::set_on_sockets_to;

fn port_of(url: &str, default: u16) -> u16 {
    url.rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next()?.parse().ok())
        .unwrap_or(default)
}

#[tokio::test]
async fn connections_to_redis_and_rabbitmq_are_opened_with_nagle_off() {
    let redis = std::env::var("AEROSTIC_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let amqp = std::env::var("AEROSTIC_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let _cache = RedisCache::connect(&redis, "nagle-test")
        .await
        .expect("Redis on 127.0.0.1:6379");
    let _broker = RabbitBroker::connect(&amqp, "nagle-test")
        .await
        .expect("RabbitMQ on 127.0.0.1:5672");
    // `set_on_sockets_to` answers how many sockets to the port lacked the option.
    assert_eq!(
        set_on_sockets_to(port_of(&redis, 6379)),
        0,
        "a Redis connection with Nagle on"
    );
    assert_eq!(
        set_on_sockets_to(port_of(&amqp, 5672)),
        0,
        "a RabbitMQ connection with Nagle on"
    );
}
