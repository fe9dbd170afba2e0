-- A change set keeps its provider's own account of it (the aws provider's CloudFormation change
-- set and stack), which the deployment that executes it needs; NULL when the provider has none.
ALTER TABLE change_sets ADD COLUMN detail TEXT;
