DROP INDEX batches_advertiser_created;
DROP TABLE batches;
