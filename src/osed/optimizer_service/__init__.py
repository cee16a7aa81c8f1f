"""The balancer optimizer as a service: a REST job API and a pool of workers."""
